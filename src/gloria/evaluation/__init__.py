"""gloria.evaluation"""
