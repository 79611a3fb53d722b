"""The engine: plain torch and numpy, no Qt. Everything the GUI does goes through here."""
