"""meersim.catalogs"""
