"""meersim.simulate"""
