from assetreg import create_app

app = create_app()
