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
