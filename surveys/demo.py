"""Demo data for surveys (order 30): placeholder until the demo step lands."""


def load_demo_surveys(program, progress):
    return None
