{
  "targets": [
    {
      "target_name": "poke",
      "sources": ["poke.c"],
      "cflags": ["-O0"]
    },
    {
      "target_name": "keepmaps",
      "type": "shared_library",
      "sources": ["keepmaps.c"],
      "libraries": ["-ldl"]
    }
  ]
}
