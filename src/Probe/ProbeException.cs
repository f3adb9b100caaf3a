namespace Probe;

/// <summary>
/// An error caused by the user's input (a file, a name, a shape, a setting) whose message says what is wrong and,
/// where it can, what to do. The CLI prints the message as one line and exits 1.
/// </summary>
public class ProbeException : Exception
{
    public ProbeException(string message) : base(message) { }
    public ProbeException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// A name the caller chose that does not exist in what it names (a layer selector that matches no layer, a checkpoint
/// epoch the run does not have). The message lists the valid names. The CLI treats it as an invalid argument (exit 2).
/// </summary>
public class ProbeArgumentException : ProbeException
{
    public ProbeArgumentException(string message) : base(message) { }
}
