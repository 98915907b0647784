"""The built-in ops, one small Function class each: forward and backward on raw arrays."""
