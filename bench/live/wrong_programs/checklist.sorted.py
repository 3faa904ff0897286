tasks = [line.strip() for line in open("tasks.txt") if line.strip()]
with open("todo.md", "w") as f:
    for task in sorted(tasks):
        f.write(f"- [ ] {task}\n")
