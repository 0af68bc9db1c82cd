"""gloria.pipelines"""
