using Probe.Data;

namespace Probe.Tests;

/// <summary>
/// The reference fixtures of tests/fixtures/&lt;topic&gt;/, written by NumPy / scikit-learn / PyTorch with the
/// make_&lt;topic&gt;.py script next to them and copied next to the test assembly.
/// </summary>
internal static class ReferenceFixtures
{
    /// <summary>The path of a fixture file; fails loudly (never skips) when it is missing.</summary>
    public static string Path(string topic, string file)
    {
        string p = System.IO.Path.Combine(AppContext.BaseDirectory, "fixtures", topic, file);
        if (!File.Exists(p)) throw new FileNotFoundException($"Reference fixture {topic}/{file} is missing: it is committed under tests/fixtures/{topic}/ and copied by Probe.Tests.csproj.", p);
        return p;
    }

    /// <summary>A float32 .npy as a matrix.</summary>
    public static Matrix Matrix(string topic, string file) => Npy.ReadMatrix(Path(topic, file));

    /// <summary>A float64 .npy as a flat array (C order).</summary>
    public static double[] Doubles(string topic, string file)
    {
        var a = Npy.Read(Path(topic, file));
        return a.Data as double[] ?? throw new InvalidDataException($"{topic}/{file} is {Npy.Descr(a.DType)}, expected float64.");
    }
}
