"""HTTP layer: the only package (with app.py) that imports Flask."""
