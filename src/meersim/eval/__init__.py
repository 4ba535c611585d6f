"""meersim.eval"""
