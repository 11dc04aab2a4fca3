"""The Twilio side of the bot: signature checks, the inbound webhook, TwiML replies."""
