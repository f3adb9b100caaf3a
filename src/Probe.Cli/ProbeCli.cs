using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Probe.Cli.Commands;

namespace Probe.Cli;

/// <summary>Exit codes of the probe command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The command failed (bad file, bad data, a diagnosis error): one line on stderr.</summary>
    public const int Failure = 1;
    /// <summary>The arguments could not be parsed, or a value was refused: the error and a usage hint on stderr.</summary>
    public const int Usage = 2;
    /// <summary><c>probe dead --fail-above</c>: a layer's dead fraction is above the threshold.</summary>
    public const int ThresholdExceeded = 3;
    /// <summary>Stopped by Ctrl-C (SIGINT) or SIGTERM; nothing half-written is left.</summary>
    public const int Cancelled = 130;
}

/// <summary>An invalid argument value found after parsing (a value the parser accepts but the command refuses): exit 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>What every command sees: where to write, the cancellation token, and progress on stderr.</summary>
public sealed class CliContext(TextWriter output, TextWriter error, CancellationToken cancel = default)
{
    public TextWriter Out { get; } = output;
    public TextWriter Err { get; } = error;

    /// <summary>Cancelled by Ctrl-C: every long loop checks it.</summary>
    public CancellationToken Cancel { get; } = cancel;

    /// <summary>Progress of the running command (set when the command starts).</summary>
    public CliProgress Progress { get; internal set; } = new(error, quiet: true, terminal: false);

    /// <summary>
    /// A progress callback (done, total) for one named stage, shown on stderr (a bar on a terminal, a line every 2 s
    /// otherwise, nothing with --quiet): pass it to an analyzer's <c>Progress</c>, with <see cref="Cancel"/> as its
    /// <c>Cancellation</c>.
    /// </summary>
    public Action<int, int> Report(string stage) => (done, total) => Progress.Report(stage, done, total);

    /// <summary>
    /// Progress of part <paramref name="part"/> (0-based) of <paramref name="parts"/> equal parts of one stage, e.g. one
    /// checkpoint of a run: the bar moves from part/parts to (part+1)/parts.
    /// </summary>
    public Action<int, int> Report(string stage, int part, int parts) =>
        (done, total) => Progress.Report(stage, (long)part * total + done, (long)Math.Max(1, parts) * total);

    /// <summary>
    /// An output file or folder written under a temporary name and renamed into place by <c>Commit()</c>; dispose it
    /// (a <c>using</c>) so Ctrl-C or a failure leaves nothing half-written.
    /// </summary>
    public StagedOutput Stage(string path, bool folder, bool replace = false) => new(path, folder, replace);
}

/// <summary>
/// The <c>probe</c> command: a thin map from System.CommandLine onto the library. Everything runs in memory
/// against the given writers, so parsing and errors are testable without a process.
/// </summary>
public static class ProbeCli
{
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show stack traces on failure.", Recursive = true };
    public static readonly Option<bool> Quiet = new("--quiet", "-q") { Description = "No progress output on stderr.", Recursive = true };

    private static readonly List<string> PendingOutputs = new();

    /// <summary>
    /// Registers a temporary output path (file or folder) that is removed if the process is stopped before the
    /// command finishes; dispose the result when the output is complete or cleaned up.
    /// </summary>
    public static IDisposable Pending(string path)
    {
        lock (PendingOutputs) PendingOutputs.Add(path);
        PendingRegistered?.Invoke(path);
        return new Unregister(path);
    }

    /// <summary>Raised with each path as it is registered (for tests: they act at that moment instead of polling).</summary>
    internal static event Action<string>? PendingRegistered;

    /// <summary>The temporary outputs registered now (for tests).</summary>
    internal static string[] PendingSnapshot() { lock (PendingOutputs) return PendingOutputs.ToArray(); }

    private sealed class Unregister(string path) : IDisposable
    {
        public void Dispose() { lock (PendingOutputs) PendingOutputs.Remove(path); }
    }

    /// <summary>
    /// The process entry: Ctrl-C (SIGINT) and SIGTERM cancel the command's token; work stops at the next check, and
    /// if it has not stopped within a second the pending temporary outputs are removed and the process exits 130.
    /// </summary>
    public static Task<int> RunAsync(string[] args)
    {
        using var cts = new CancellationTokenSource();
        int signalled = 0;
        void OnSignal(PosixSignalContext c)
        {
            c.Cancel = true;
            if (Interlocked.Exchange(ref signalled, 1) == 1) return;
            // The watchdog starts first and depends on nothing else: a cancellation callback that blocks, or a console
            // writer locked by a thread stuck in a write, cannot keep the process alive past it.
            new Thread(() =>
            {
                Thread.Sleep(1000);
                lock (PendingOutputs)
                    foreach (var p in PendingOutputs)
                    {
                        try
                        {
                            if (Directory.Exists(p)) Directory.Delete(p, true);
                            else if (File.Exists(p)) File.Delete(p);
                        }
                        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
                    }
                WriteRaw(2, "probe: stopped.\n");
                // Exit at once, without static destructors: Environment.Exit while another thread is inside libtorch can abort (exit 134).
                ExitNow(ExitCodes.Cancelled);
            }) { IsBackground = true, Name = "probe Ctrl-C watchdog" }.Start();
            new Thread(() =>
            {
                try { cts.Cancel(); }
                catch (AggregateException) { } // a callback failed: the watchdog still stops the process
            }) { IsBackground = true, Name = "probe Ctrl-C cancel" }.Start();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        return Task.FromResult(Run(args, Console.Out, Console.Error, cts.Token));
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void ExitNow(int code);

    [DllImport("libc", EntryPoint = "write")]
    private static extern nint WriteFd(int fd, byte[] buffer, nint count);

    /// <summary>Writes to a file descriptor directly, past Console's writer and its lock (Console's writers flush every write).</summary>
    private static void WriteRaw(int fd, string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        WriteFd(fd, bytes, bytes.Length);
    }

    public static int Run(string[] args, TextWriter output, TextWriter error, CancellationToken cancel = default)
    {
        // Every number the CLI reads (System.CommandLine parses double options with the current culture) or writes uses
        // '.': under de-DE, '--lr 0.01' would otherwise read as 1 (the '.' a group separator), under fr-FR be refused.
        CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.DefaultThreadCurrentUICulture = CultureInfo.InvariantCulture;
        var ctx = new CliContext(output, error, cancel);
        var root = BuildRoot(ctx);
        ParseResult parse;
        try { parse = root.Parse(args); }
        catch (InvalidOperationException e)
        {
            // A command validator read an option whose value could not be converted ("Cannot parse argument ...").
            string named = args.Length > 0 && root.Subcommands.Any(c => c.Name == args[0]) ? " " + args[0] : "";
            error.WriteLine("probe: " + FirstLine(e.Message));
            error.WriteLine($"Usage: run 'probe{named} --help' for the options.");
            return ExitCodes.Usage;
        }
        string cmd = parse.CommandResult.Command == root ? "" : " " + parse.CommandResult.Command.Name;
        if (parse.Errors.Count > 0)
        {
            bool unknownCommand = parse.CommandResult.Command == root && parse.Errors.Any(e => e.Message.StartsWith("Unrecognized command", StringComparison.Ordinal));
            foreach (var e in parse.Errors)
                if (!(unknownCommand && e.Message == "Required command was not provided.")) // the unknown name says it better
                    error.WriteLine("probe: " + e.Message + Suggestion(e.Message, parse.CommandResult.Command, root));
            error.WriteLine($"Usage: run 'probe{cmd} --help' for the options.");
            return ExitCodes.Usage;
        }
        bool verbose = parse.GetValue(Verbose);
        ctx.Progress = new CliProgress(error, parse.GetValue(Quiet), CliProgress.IsTerminal(error));
        CurrentError.Value = error;
        try
        {
            return ctx.Progress.Run(() => parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }));
        }
        catch (Exception e) when (Unwrap(e) is OperationCanceledException && cancel.IsCancellationRequested)
        {
            error.WriteLine("probe: stopped; no output was left half-written.");
            return ExitCodes.Cancelled;
        }
        catch (Exception e) when (Unwrap(e) is UsageException or ProbeArgumentException)
        {
            // A value the parser accepted but the command refused: a name that does not exist (a layer, an epoch).
            error.WriteLine("probe: " + FirstLine(Unwrap(e).Message));
            error.WriteLine($"Usage: run 'probe{cmd} --help' for the options.");
            return ExitCodes.Usage;
        }
        catch (Exception e0)
        {
            var e = Unwrap(e0);
            string message = OutOfMemory(e.Message) ?? FirstLine(e.Message);
            if (e is ProbeException or IOException or UnauthorizedAccessException or InvalidDataException) error.WriteLine("probe: " + message);
            else error.WriteLine($"probe: unexpected {e.GetType().Name}: {message}" + (verbose ? "" : " (run with --verbose for details)"));
            if (verbose) error.WriteLine(e.ToString());
            return ExitCodes.Failure;
        }
    }

    /// <summary>
    /// For an unrecognised command or option, " Did you mean 'X'?" when one of the names it could have been is within a
    /// small edit distance (case ignored); otherwise "".
    /// </summary>
    internal static string Suggestion(string message, Command command, Command root)
    {
        const string Prefix = "Unrecognized command or argument '";
        if (!message.StartsWith(Prefix, StringComparison.Ordinal) || !message.EndsWith("'.", StringComparison.Ordinal)) return "";
        string token = message[Prefix.Length..^2];
        if (token.Length < 2) return "";
        IEnumerable<string> names = token.StartsWith('-')
            ? command.Options.Concat(root.Options).Concat(command.Parents.OfType<Command>().SelectMany(c => c.Options))
                .SelectMany(o => o.Aliases.Prepend(o.Name))
            : (command == root ? root.Subcommands : command.Subcommands).Select(c => c.Name);
        var best = names.Where(n => n.Length > 1).Distinct(StringComparer.Ordinal)
            .Select(n => (Name: n, Distance: EditDistance(token.ToLowerInvariant(), n.ToLowerInvariant())))
            .OrderBy(c => c.Distance).ThenBy(c => c.Name, StringComparer.Ordinal).FirstOrDefault();
        return best.Name != null && best.Distance <= Math.Max(1, token.Length / 3) ? $" Did you mean '{best.Name}'?" : "";
    }

    private static int EditDistance(string a, string b)
    {
        var row = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) row[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    private static readonly AsyncLocal<TextWriter?> CurrentError = new();

    /// <summary>
    /// A warning on the running command's stderr (shown with --quiet too: it is about the result, not progress), from
    /// code that has no context at hand (opening data).
    /// </summary>
    internal static void Warn(string message) => CurrentError.Value?.WriteLine("probe: warning: " + message);

    private static Exception Unwrap(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } a ? Unwrap(a.InnerExceptions[0]) : e;

    /// <summary>The message without the native stack libtorch appends after its first line.</summary>
    internal static string FirstLine(string message)
    {
        int i = message.IndexOf("\nException raised from", StringComparison.Ordinal);
        if (i < 0) i = message.IndexOf("\nframe #", StringComparison.Ordinal);
        return (i >= 0 ? message[..i] : message).TrimEnd();
    }

    /// <summary>A readable message for a libtorch allocation failure ("you tried to allocate N bytes"), or null.</summary>
    internal static string? OutOfMemory(string message)
    {
        var m = Regex.Match(message, @"tried to allocate (\d+) bytes");
        if (!m.Success) return null;
        double gb = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) / (1L << 30);
        var layer = Regex.Match(message, @"^Layer '([^']+)' \(([^)]+)\)");
        string where = layer.Success ? $" in layer '{layer.Groups[1].Value}' ({layer.Groups[2].Value})" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"out of memory{where}: it tried to allocate {gb:0.##} GiB. Use a smaller --batch-size, or fewer samples with --max-samples.");
    }

    /// <summary>The root command, named <c>probe</c> (the tool's name) whatever the executable is called, so usage lines say <c>probe</c>.</summary>
    public static Command BuildRoot(CliContext ctx)
    {
        var root = new Command("probe", "Probe: open up a trained neural network and see what each layer has learned.")
        {
            new System.CommandLine.Help.HelpOption(),
            new VersionOption(),
        };
        root.Add(Verbose);
        root.Add(Quiet);
        foreach (var c in CommandCatalog.Create(ctx)) root.Add(c);
        return root;
    }
}
