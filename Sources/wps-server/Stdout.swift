public import ArgumentParser
import Glibc
public import Logging

/// Prints a line and flushes at once so a parent process sees it immediately.
func printFlushed(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(1, bytes.baseAddress, bytes.count) }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Prints one line on standard error.
func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}
