from django import forms, template

register = template.Library()


def _css_class(field):
    widget = field.field.widget
    if isinstance(widget, (forms.CheckboxInput,)):
        css = "form-check-input"
    elif isinstance(widget, (forms.Select, forms.SelectMultiple)):
        css = "form-select"
    else:
        css = "form-control"
    if field.errors:
        css += " is-invalid"
    return css


@register.inclusion_tag("core/field.html")
def field(bound_field, col=""):
    """A Bootstrap 5 form group: label, widget, help text and every error for the field."""
    attrs = {"class": _css_class(bound_field)}
    if bound_field.help_text:
        attrs["aria-describedby"] = f"{bound_field.auto_id}_help"
    if bound_field.field.required:
        attrs["required"] = True
    return {"field": bound_field, "widget": bound_field.as_widget(attrs=attrs), "col": col}


@register.inclusion_tag("core/date_range.html")
def date_range(bound_field, legend, prefix="", col="col-md-6"):
    """Two date inputs for a django-filter DateFromToRangeFilter (`<name>_after`, `<name>_before`), with
    its errors; `prefix` starts each input's accessible name ("Created" -> "Created on or after")."""
    after_suffix, before_suffix = bound_field.field.widget.suffixes
    value = bound_field.value() if bound_field.form.is_bound else None
    after, before = (list(value) + [None, None])[:2] if isinstance(value, (list, tuple)) else (None, None)
    name = bound_field.html_name
    lead = f"{prefix} on" if prefix else "On"
    return {
        "field": bound_field,
        "legend": legend,
        "col": col,
        "inputs": [
            {"name": f"{name}_{after_suffix}", "value": after or "", "label": f"{lead} or after"},
            {"name": f"{name}_{before_suffix}", "value": before or "", "label": f"{lead} or before"},
        ],
    }
