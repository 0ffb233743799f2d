${message}
