using System.Text.Json;

namespace Probe.Tests.Analysis;

/// <summary>Fixture access for the Analysis tests (NPY files are read with Probe.Data.Npy).</summary>
internal static class TestNpy
{
    public static string Fixture(string name) => ReferenceFixtures.Shared(name);


    public static Matrix ReadMatrix(string name) => Probe.Data.Npy.ReadMatrix(Fixture(name));

    public static int[] ReadInt32(string name) => Probe.Data.Npy.ReadInt32(Fixture(name));

    public static bool[] ReadBool(string name) => Probe.Data.Npy.ReadBool(Fixture(name));

    /// <summary>expected.json -> digits_mlp.per_layer.&lt;layer&gt;.</summary>
    public static JsonElement Layer(string layer) =>
        ReferenceFixtures.Expected.GetProperty("digits_mlp").GetProperty("per_layer").GetProperty(layer);

    public static readonly string[] DigitsLayers = ["input", "fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "fc4"];
}
