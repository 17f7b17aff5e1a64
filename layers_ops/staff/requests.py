"""What the door reads off a request."""

from axes.helpers import get_client_ip_address


def client_ip(request) -> str | None:
    """The client's address as the lockout sees it (axes: REMOTE_ADDR, or the forwarded
    address when AXES_IPWARE_PROXY_COUNT says how many proxies stand in front)."""
    return getattr(request, "axes_ip_address", None) or get_client_ip_address(request)
