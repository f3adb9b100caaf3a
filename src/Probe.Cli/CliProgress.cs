using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Probe.Cli;

/// <summary>
/// Progress of long work on stderr: Spectre.Console bars when stderr is a terminal, otherwise a plain line per stage
/// at most every 2 s (and none for work that ends within 2 s); nothing with --quiet.
/// </summary>
public sealed class CliProgress
{
    private readonly TextWriter _err;
    private readonly bool _quiet;
    private readonly bool _terminal;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Dictionary<string, ProgressTask> _tasks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _lastLine = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private ProgressContext? _bars;

    /// <summary>Seconds of silence before the first plain progress line, and between two lines of one stage.</summary>
    public const double Interval = 2.0;

    public CliProgress(TextWriter err, bool quiet, bool terminal)
    {
        _err = err;
        _quiet = quiet;
        _terminal = terminal && !quiet;
    }

    /// <summary>True when stderr is the process's console and a terminal.</summary>
    public static bool IsTerminal(TextWriter err) => ReferenceEquals(err, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="work"/> with bars shown while it runs (terminal), or plainly.</summary>
    public int Run(Func<int> work)
    {
        if (!_terminal) return work();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(c =>
            {
                lock (_gate) _bars = c;
                try { return work(); }
                finally { lock (_gate) _bars = null; }
            });
    }

    /// <summary>Reports <paramref name="done"/> of <paramref name="total"/> units of <paramref name="stage"/>.</summary>
    public void Report(string stage, long done, long total)
    {
        if (_quiet || total <= 0) return;
        lock (_gate)
        {
            if (_bars is { } bars)
            {
                if (!_tasks.TryGetValue(stage, out var task)) _tasks[stage] = task = bars.AddTask(Markup.Escape(stage), maxValue: total);
                task.MaxValue = total;
                task.Value = Math.Min(done, total);
                return;
            }
            double now = _clock.Elapsed.TotalSeconds;
            bool finished = done >= total;
            double last = _lastLine.TryGetValue(stage, out var l) ? l : double.NegativeInfinity;
            if (now < Interval && !(finished && last > double.NegativeInfinity)) return;
            if (!finished && now - last < Interval) return;
            if (finished && last == double.NegativeInfinity && now < Interval) return;
            _lastLine[stage] = finished ? double.PositiveInfinity : now;
            if (last == double.PositiveInfinity) return;
            _err.WriteLine(string.Create(CultureInfo.InvariantCulture, $"probe: {stage}: {done}/{total} ({100.0 * done / total:0}%), {now:0} s"));
        }
    }

    /// <summary>A one-line message (shown unless --quiet; printed above the bars on a terminal).</summary>
    public void Line(string message)
    {
        if (_quiet) return;
        lock (_gate)
        {
            if (_bars != null) AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }).MarkupLine(Markup.Escape(message));
            else _err.WriteLine(message);
        }
    }
}
