"""Delivery channels: plugins behind one small interface (`Channel`)."""
