"""Every state change in leasing, one module per concern; each public function is one
database transaction. Import from the module that owns the function (``locks`` holds the
locking order every module follows); nothing is re-exported here."""
