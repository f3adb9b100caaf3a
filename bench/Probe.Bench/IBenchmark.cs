using System.Diagnostics;
using System.Globalization;

namespace Probe.Bench;

/// <summary>A benchmark: measures something and a baseline in the same run, and reports their ratio.</summary>
public interface IBenchmark
{
    string Name { get; }
    string Description { get; }
    void Run(BenchContext context);
}

public sealed class BenchContext(bool quick, TextWriter output, bool smoke = false)
{
    /// <summary>Smaller sizes (also set in a smoke run).</summary>
    public bool Quick { get; } = quick || smoke;

    /// <summary>The smallest sizes: every benchmark runs once so that CI sees it still works; its figures mean nothing.</summary>
    public bool Smoke { get; } = smoke;

    /// <summary><paramref name="n"/>, or at most <paramref name="smokeSize"/> in a smoke run.</summary>
    public int Size(int n, int smokeSize) => Smoke ? Math.Min(n, smokeSize) : n;
    public TextWriter Out { get; } = output;

    /// <summary>Writes one figure, formatted with the invariant culture.</summary>
    public void Report(string metric, double value, string unit = "") =>
        Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {metric,-48} {value,14:G6} {unit}"));

    /// <summary>The best wall time, in seconds, of <paramref name="repeats"/> runs of an action after one warm-up.</summary>
    public static double BestSeconds(Action action, int repeats = 3, bool warmUp = true)
    {
        if (warmUp) action();
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>Peak resident memory of this process so far, in MiB (Linux VmHWM).</summary>
    public static double PeakResidentMiB()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return double.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        return double.NaN;
    }

    /// <summary>Current resident memory of this process, in MiB (Linux VmRSS).</summary>
    public static double ResidentMiB()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return double.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        return double.NaN;
    }
}
