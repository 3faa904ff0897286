import json

users = json.load(open("users.json"))
with open("adults.txt", "w") as f:
    for user in users:
        if user["age"] > 18:
            f.write(user["name"] + "\n")
