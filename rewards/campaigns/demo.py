def load_demo(program, progress):
    pass
