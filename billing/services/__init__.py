"""The only code that moves money, one module per concern; each public function is one
database transaction. Import from the module that owns the function; nothing is
re-exported here."""
