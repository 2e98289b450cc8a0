"""The "phone" page: open STK prompts that a person (or a headless browser) answers.

Plain server-rendered HTML, no scripts and no external assets, sized for a phone screen. Every prompt is
a form; each answer is a button that posts to ``/phone/<CheckoutRequestID>/<action>``.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlencode

# action in the URL -> (result code, button label)
PHONE_ACTIONS: dict[str, tuple[int, str]] = {
    "approve": (0, "Send (pay)"),
    "decline": (1032, "Cancel"),
    "wrong-pin": (2001, "Wrong PIN"),
    "insufficient": (1, "Insufficient funds"),
    "timeout": (1037, "Ignore (time out)"),
}

_STYLE = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#e9eef2;color:#1b1f23}
main{max-width:26rem;margin:0 auto;padding:1rem}
h1{font-size:1.2rem;margin:.2rem 0 1rem}
.note{font-size:.85rem;color:#555}
.flash{background:#fff8d6;border:1px solid #e6d27a;padding:.6rem .8rem;border-radius:.5rem;margin-bottom:1rem}
.prompt{background:#fff;border-radius:.8rem;padding:1rem;margin-bottom:1rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}
.prompt p{margin:0 0 .8rem;font-size:1.05rem;line-height:1.4}
.prompt .meta{font-size:.75rem;color:#666;overflow-wrap:anywhere}
label{display:block;font-size:.9rem;margin-bottom:.3rem}
input{width:100%;font-size:1.2rem;padding:.5rem;border:1px solid #aaa;border-radius:.4rem;margin-bottom:.8rem}
.row{display:flex;gap:.5rem}
button{flex:1;font-size:1rem;padding:.7rem;border:0;border-radius:.4rem;cursor:pointer}
.approve{background:#2e7d32;color:#fff}.decline{background:#c62828;color:#fff}
.other button{background:#eceff1;color:#333;font-size:.85rem;padding:.5rem}
.other{margin-top:.5rem;gap:.4rem;flex-wrap:wrap}
table{width:100%;border-collapse:collapse;font-size:.8rem;background:#fff;border-radius:.5rem}
td,th{padding:.35rem;text-align:left;border-bottom:1px solid #eee;overflow-wrap:anywhere}
th{white-space:nowrap;overflow-wrap:normal}
"""


def format_kes(amount: int) -> str:
    return f"KES {amount:,}"


def _page(title: str, body: str, refresh: int | None = None) -> str:
    meta_refresh = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta_refresh}<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _prompt(txn: dict, phone_filter: str | None) -> str:
    checkout_id = txn["checkout_request_id"]
    payee = txn["party_b"] if txn["transaction_type"] == "CustomerBuyGoodsOnline" else txn["business_short_code"]
    base = f"/phone/{quote(checkout_id)}/"
    suffix = f"?{urlencode({'phone': phone_filter})}" if phone_filter else ""
    others = "".join(
        f'<button type="submit" formaction="{base}{action}{suffix}" data-action="{action}">{escape(label)}</button>'
        for action, (_, label) in PHONE_ACTIONS.items()
        if action not in ("approve", "decline")
    )
    return (
        f'<section class="prompt" data-checkout-request-id="{escape(checkout_id)}">'
        f'<form method="post" action="{base}approve{suffix}">'
        f"<p>Pay {format_kes(txn['amount'])} to {escape(payee)} "
        f"(account {escape(txn['account_reference'])})? Enter PIN</p>"
        f'<p class="meta">to {escape(txn["phone_number"])} &middot; {escape(checkout_id)}</p>'
        f'<label for="pin-{escape(checkout_id)}">M-PESA PIN</label>'
        f'<input id="pin-{escape(checkout_id)}" name="pin" type="password" inputmode="numeric" autocomplete="off">'
        '<div class="row">'
        f'<button type="submit" class="approve" data-action="approve">{PHONE_ACTIONS["approve"][1]}</button>'
        f'<button type="submit" class="decline" formaction="{base}decline{suffix}" data-action="decline">'
        f"{PHONE_ACTIONS['decline'][1]}</button>"
        "</div>"
        f'<div class="row other">{others}</div>'
        "</form></section>"
    )


def render_phone_page(
    pending: list[dict], recent: list[dict], *, phone_filter: str | None, message: str | None, refresh_seconds: int
) -> str:
    heading = f"Phone {escape(phone_filter)}" if phone_filter else "Simulated phones"
    parts = [f"<h1>{heading}</h1>"]
    if message:
        parts.append(f'<div class="flash" role="status">{escape(message)}</div>')
    if pending:
        parts.extend(_prompt(txn, phone_filter) for txn in pending)
    else:
        parts.append(
            f'<p class="note" id="no-prompts">No open M-PESA prompts. '
            f"This page refreshes every {refresh_seconds} s.</p>"
        )
    if recent:
        rows = "".join(
            f"<tr><td>{escape(t['phone_number'])}</td><td>{format_kes(t['amount'])}</td>"
            f"<td>{escape(str(t['result_code']))} {escape(t['result_desc'] or '')}</td>"
            f"<td>{escape(t['receipt_number'] or '')}</td></tr>"
            for t in recent
        )
        parts.append(
            "<h1>Recent</h1><table><thead><tr><th>Phone</th><th>Amount</th><th>Result</th><th>Receipt</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    parts.append('<p class="note"><a href="/phone/">All phones</a> &middot; <a href="/__sim__/">Control API</a></p>')
    return _page("M-PESA prompts", "".join(parts), refresh=None if pending else refresh_seconds)


def render_message_page(title: str, message: str) -> str:
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p><p><a href='/phone/'>Back</a></p>")


def render_index(base_url: str) -> str:
    body = (
        "<h1>Daraja simulator</h1>"
        f"<p>Point the M-Pesa client at <code>{escape(base_url)}</code>.</p>"
        '<p><a href="/phone/">Phone page</a> (answer STK prompts)</p>'
        '<p><a href="/__sim__/">Control API</a> &middot; <a href="/__sim__/transactions">transactions</a> &middot; '
        '<a href="/__sim__/deliveries">deliveries</a></p>'
    )
    return _page("Daraja simulator", body)
