"""SMS: GSM-7/UCS-2 text rules now; keyword commands and gateways arrive with the SMS issue."""
