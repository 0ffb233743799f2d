MESSAGE = "hello from the app's own module"
