import os
import sys

# make tests/reference_satloss.py importable as a plain module
sys.path.insert(0, os.path.dirname(__file__))
