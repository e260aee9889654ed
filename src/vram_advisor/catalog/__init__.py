"""The model catalog: packaged and user profiles, model architecture, published files and derived rows."""
