"""Mail messages as bytes: DKIM (hsl.mail.dkim) and ARC (hsl.mail.arc)."""
