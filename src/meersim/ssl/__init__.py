"""meersim.ssl"""
