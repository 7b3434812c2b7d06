"""TensorFlow Metadata schemas shipped with zoo (package data)."""
