"""gloria.data"""
