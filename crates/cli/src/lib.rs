//! The wslp command line, in the manner of wsl.exe.
