"""gloria.models"""
