"""gloria.training"""
