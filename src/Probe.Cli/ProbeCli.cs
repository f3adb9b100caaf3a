using System.CommandLine;
using Probe.Cli.Commands;

namespace Probe.Cli;

/// <summary>Exit codes of the probe command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The command failed (bad file, bad data, a diagnosis error): one line on stderr.</summary>
    public const int Failure = 1;
    /// <summary>The arguments could not be parsed: the error and a usage hint on stderr.</summary>
    public const int Usage = 2;
    /// <summary><c>probe dead --fail-above</c>: a layer's dead fraction is above the threshold.</summary>
    public const int ThresholdExceeded = 3;
}

/// <summary>What every command sees: where to write, and whether to show stack traces.</summary>
public sealed class CliContext(TextWriter output, TextWriter error)
{
    public TextWriter Out { get; } = output;
    public TextWriter Err { get; } = error;
}

/// <summary>
/// The <c>probe</c> command: a thin map from System.CommandLine onto the library. Everything runs in memory
/// against the given writers, so parsing and errors are testable without a process.
/// </summary>
public static class ProbeCli
{
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show stack traces on failure.", Recursive = true };

    public static Task<int> RunAsync(string[] args) => Task.FromResult(Run(args, Console.Out, Console.Error));

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var ctx = new CliContext(output, error);
        var root = BuildRoot(ctx);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) error.WriteLine("probe: " + e.Message);
            string cmd = parse.CommandResult.Command == root ? "" : " " + parse.CommandResult.Command.Name;
            error.WriteLine($"Usage: run 'probe{cmd} --help' for the options.");
            return ExitCodes.Usage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is ProbeException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            error.WriteLine("probe: " + e.Message);
            if (parse.GetValue(Verbose)) error.WriteLine(e.ToString());
            return ExitCodes.Failure;
        }
        catch (Exception e)
        {
            error.WriteLine($"probe: unexpected {e.GetType().Name}: {e.Message}" + (parse.GetValue(Verbose) ? "" : " (run with --verbose for details)"));
            if (parse.GetValue(Verbose)) error.WriteLine(e.ToString());
            return ExitCodes.Failure;
        }
    }

    public static RootCommand BuildRoot(CliContext ctx)
    {
        var root = new RootCommand("Probe: open up a trained neural network and see what each layer has learned.");
        root.Add(Verbose);
        foreach (var c in CommandCatalog.Create(ctx)) root.Add(c);
        return root;
    }
}
