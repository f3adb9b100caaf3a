using System.Reflection;
using Probe.Build;
using Probe.Native;
using TorchSharp;
using Xunit;

namespace Probe.Tests.Foundation;

public class TorchSharpLoadTests
{
    [Fact]
    public void TorchSharpLoadsAndRunsALinearLayer()
    {
        torch.manual_seed(0);
        using var linear = torch.nn.Linear(3, 2);
        using (torch.no_grad())
        {
            linear.weight!.copy_(torch.tensor(new float[] { 1, 2, 3, -1, 0, 1 }, new long[] { 2, 3 }));
            linear.bias!.copy_(torch.tensor(new float[] { 0.5f, -0.5f }));
        }
        using var y = linear.call(torch.tensor(new float[] { 1, 1, 2 }, new long[] { 1, 3 }));
        Assert.Equal(new[] { 1 + 2 + 6 + 0.5f, -1 + 0 + 2 - 0.5f }, y.data<float>().ToArray());
    }

    static string OriginalLibrary()
    {
        string root = typeof(TorchSharpLoadTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "NuGetPackageRoot").Value!;
        return Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    [SkippableFact]
    public void PatcherMarksOnlyTheGlibcxxNeedWeakAndIsIdempotent()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The ELF patch concerns Linux only.");
        string original = OriginalLibrary();
        Assert.True(File.Exists(original), "TorchSharp's native library is not in the NuGet cache at " + original);
        var before = ElfVersionPatcher.VersionNeeds(original);
        // The untouched package needs GLIBCXX_3.4.32 strongly: the build never patches the NuGet cache.
        Assert.Contains(before, n => n.Version == "GLIBCXX_3.4.32" && !n.Weak && n.File == "libstdc++.so.6");

        string copy = Path.Combine(Path.GetTempPath(), "probe-patch-" + Guid.NewGuid().ToString("N") + ".so");
        File.Copy(original, copy);
        try
        {
            Assert.Equal(ElfPatchOutcome.Patched, ElfVersionPatcher.MakeVersionNeedWeak(copy, "GLIBCXX_3.4.32"));
            var after = ElfVersionPatcher.VersionNeeds(copy);
            Assert.Equal(before.Count, after.Count);
            for (int i = 0; i < before.Count; i++)
                Assert.Equal(before[i].Version == "GLIBCXX_3.4.32" || before[i].Weak, after[i].Weak);

            byte[] a = File.ReadAllBytes(original), b = File.ReadAllBytes(copy);
            Assert.Equal(a.Length, b.Length);
            Assert.Single(Enumerable.Range(0, a.Length), i => a[i] != b[i]); // one byte of vna_flags

            Assert.Equal(ElfPatchOutcome.AlreadyWeak, ElfVersionPatcher.MakeVersionNeedWeak(copy, "GLIBCXX_3.4.32"));
            Assert.Equal(b, File.ReadAllBytes(copy));
            Assert.Equal(ElfPatchOutcome.VersionNotNeeded, ElfVersionPatcher.MakeVersionNeedWeak(copy, "GLIBCXX_9.9.99"));
        }
        finally { File.Delete(copy); }
    }

    [SkippableFact]
    public void TheCopyInTheOutputFolderIsPatchedWhenTheHostLacksTheVersion()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The ELF patch concerns Linux only.");
        string host = ElfVersionPatcher.FindHostLibStdCxx()!;
        Assert.NotNull(host);
        bool hostHasIt = ElfVersionPatcher.VersionDefinitions(host).Contains("GLIBCXX_3.4.32");
        Assert.Contains("GLIBCXX_3.4.30", ElfVersionPatcher.VersionDefinitions(host)); // Debian 12 or newer
        string output = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var need = ElfVersionPatcher.VersionNeeds(output).Single(n => n.Version == "GLIBCXX_3.4.32");
        Assert.Equal(!hostHasIt, need.Weak);
    }

    [Fact]
    public void LoadTimeCheckFindsTheBuildsPatchedCopyAndDoesNothing()
    {
        // In a build output the targets already patched the library the runtime loads, so Probe's module initializer
        // must leave it alone (the notebook tests cover the other case: TorchSharp loaded from the NuGet cache).
        string status = TorchSharpNative.EnsureLoadable();
        var layout = TorchSharpNative.TorchSharpLayout.Find();
        Assert.NotNull(layout.LibTorchSharp);
        Assert.StartsWith(AppContext.BaseDirectory.TrimEnd('/'), layout.LibTorchSharp);
        Assert.StartsWith("nothing to do", status);
    }

    [Fact]
    public void PatcherRejectsFilesThatAreNotElfWithAClearError()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, new byte[] { 1, 2, 3, 4, 5 });
            var e = Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.MakeVersionNeedWeak(path, "GLIBCXX_3.4.32"));
            Assert.Contains("not an ELF file", e.Message);
            var elf = new byte[64];
            elf[0] = 0x7f; elf[1] = (byte)'E'; elf[2] = (byte)'L'; elf[3] = (byte)'F'; elf[4] = 2; elf[5] = 1;
            BitConverter.GetBytes(1_000_000UL).CopyTo(elf, 0x28); // section headers far past the end
            BitConverter.GetBytes((ushort)64).CopyTo(elf, 0x3A);
            BitConverter.GetBytes((ushort)3).CopyTo(elf, 0x3C);
            File.WriteAllBytes(path, elf);
            Assert.Contains("outside the file", Assert.Throws<InvalidDataException>(() => ElfVersionPatcher.VersionNeeds(path)).Message);
        }
        finally { File.Delete(path); }
    }
}
