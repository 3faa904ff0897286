with open("server.log") as f:
    count = sum(1 for line in f if "ERROR" in line)
with open("errors.txt", "w") as f:
    f.write(str(count))
