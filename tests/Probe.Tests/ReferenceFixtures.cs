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

    /// <summary>The path of a file of the shared reference set tests/Probe.Tests/Fixtures (see SOURCE.md there).</summary>
    public static string Shared(string file) => System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", file);

    static readonly Lazy<System.Text.Json.JsonElement> ExpectedJson = new(() =>
        System.Text.Json.JsonDocument.Parse(File.ReadAllText(Shared("expected.json"))).RootElement.Clone());

    /// <summary>Fixtures/expected.json, parsed once.</summary>
    public static System.Text.Json.JsonElement Expected => ExpectedJson.Value;

    /// <summary>The 1,797 digits (pixels / 16, 1 x 8 x 8) with their labels, from the shared fixtures.</summary>
    public static Dataset Digits() => new Dataset("digits", Npy.ReadMatrix(Shared("digits_input.npy")),
        Npy.ReadInt32(Shared("digits_labels.npy")), [1, 8, 8]).Validate();

    /// <summary>A float32 .npy as a matrix.</summary>
    public static Matrix Matrix(string topic, string file) => Npy.ReadMatrix(Path(topic, file));

    /// <summary>A float64 .npy as a flat array (C order).</summary>
    public static double[] Doubles(string topic, string file)
    {
        var a = Npy.Read(Path(topic, file));
        return a.Data as double[] ?? throw new InvalidDataException($"{topic}/{file} is {Npy.Descr(a.DType)}, expected float64.");
    }
}
