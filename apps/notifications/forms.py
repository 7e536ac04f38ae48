from django import forms

from .kinds import webhook_event_choices


class WebhookEndpointForm(forms.Form):
    # A plain field: the service decides which schemes are allowed and says so.
    url = forms.CharField(
        label="Endpoint URL",
        max_length=500,
        strip=True,
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/sla"}),
    )
    description = forms.CharField(max_length=200, required=False, strip=True)
    events = forms.MultipleChoiceField(
        # Read when a form is made: the kinds register at app ready.
        choices=webhook_event_choices,
        widget=forms.CheckboxSelectMultiple,
        initial=lambda: [value for value, _ in webhook_event_choices()],
        error_messages={
            "invalid_choice": "Unknown event %(value)s: choose from the list.",
            "required": "Choose at least one event.",
        },
    )
