def client_ip(request) -> str | None:
    """The client's address as our own server saw it.

    X-Forwarded-For is only trusted when the deployment says a proxy sets it (nginx overwrites it with
    $proxy_add_x_forwarded_for, so the last entry is the address nginx saw).
    """
    from django.conf import settings

    if request is None:
        return None
    if getattr(settings, "USE_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None
