"""The handset simulator: a phone that speaks Africa's Talking's USSD wire format to our app."""
