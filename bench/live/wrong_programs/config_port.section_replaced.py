text = open("config.ini").read()
server, rest = text.split("[log]", 1)
with open("config.ini", "w") as f:
    f.write("server_port = 9090\n\n[log]" + rest)
