{
  "targets": [
    {
      "target_name": "strongroom",
      "sources": [
        "native/addon.cc",
        "native/binding.cc",
        "native/guarded_memory.cc",
        "native/slab.cc",
        "native/mappings.cc",
        "native/region.cc",
        "native/ops.cc",
        "native/constant_time.cc",
        "native/sealing.cc",
        "native/hashing.cc",
        "native/sha256.cc",
        "native/hardening.cc",
        "native/reader.cc",
        "native/io.cc",
        "native/coffer.cc",
        "native/coffer_binding.cc",
        "native/password.cc",
        "native/random.cc",
        "native/age.cc",
        "native/age_format.cc",
        "native/age_binding.cc",
        "native/pkcs11.cc",
        "native/pkcs11_binding.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "deps/libsodium/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "ldflags": ["-Wl,--exclude-libs,ALL", "-Wl,-z,relro,-z,now"],
      "libraries": ["-ldl", "<(module_root_dir)/deps/libsodium/lib/libsodium.a"]
    }
  ]
}
