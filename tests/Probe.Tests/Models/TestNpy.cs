namespace Probe.Tests.Models;

/// <summary>Fixture access for the Models tests (NPY files are read with Probe.Data.Npy).</summary>
internal static class TestNpy
{
    public static string Fixture(string name) => ReferenceFixtures.Shared(name);

    public static Matrix ReadMatrix(string path) => Probe.Data.Npy.ReadMatrix(path);

    public static int[] ReadInt32(string path) => Probe.Data.Npy.ReadInt32(path);

    public static bool[] ReadBool(string path) => Probe.Data.Npy.ReadBool(path);
}
