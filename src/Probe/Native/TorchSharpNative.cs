using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Probe.Build;

namespace Probe.Native;

/// <summary>
/// Makes sure the TorchSharp native library that loads into this process is one the host's C++ runtime accepts,
/// wherever it comes from: a build or publish folder, or the NuGet cache (a .NET Interactive / Jupyter kernel, where
/// no build step of ours ever ran).
/// </summary>
/// <remarks>
/// TorchSharp 0.107's <c>libLibTorchSharp.so</c> declares a need for <c>GLIBCXX_3.4.32</c>; Debian 12's libstdc++
/// (GCC 12) stops at 3.4.30, so the dynamic loader refuses the library. The build targets (build/TorchSharpNativePatch.targets,
/// shipped in the package as buildTransitive/Probe.targets) mark that one need weak in every output folder. Where no
/// build ran, this class does the same at load time: it copies the library into a per-user cache folder
/// (<c>$XDG_CACHE_HOME/probe/native</c> or <c>~/.cache/probe/native</c>, keyed by the original's SHA-256), patches the
/// copy with the same ELF code, loads libtorch from TorchSharp's own folder and then the patched copy by absolute path.
/// The dynamic loader matches later loads by the library's SONAME, so TorchSharp's own loader (which asks for
/// <c>LibTorchSharp</c> by name) and every P/Invoke get the patched library; a DllImport resolver on TorchSharp's
/// assembly says the same. Nothing happens off Linux, on hosts whose libstdc++ has the version, or when the library
/// the runtime would load is already patched. The NuGet cache is never modified.
/// It runs once, from Probe's module initializer, before any Probe code touches TorchSharp. Code that uses TorchSharp
/// before any Probe type can call <see cref="EnsureLoadable"/> first.
/// </remarks>
public static class TorchSharpNative
{
    /// <summary>The libstdc++ symbol version TorchSharp 0.107's native library asks for.</summary>
    public const string LibStdCxxVersion = "GLIBCXX_3.4.32";

    static readonly object Gate = new();
    static string? status;
    static IntPtr handle;

    /// <summary>What <see cref="EnsureLoadable"/> found or did, as one line (for diagnostics and notebooks).</summary>
    public static string Status
    {
        get { lock (Gate) return status ?? "not run yet"; }
    }

#pragma warning disable CA2255 // A library module initializer is the point: it must run before TorchSharp's own type initializer.
    [ModuleInitializer]
    internal static void OnProbeLoaded()
    {
        try { EnsureLoadable(); }
        catch (Exception e) { lock (Gate) status = "failed: " + e.Message; }
    }
#pragma warning restore CA2255

    /// <summary>
    /// Makes the TorchSharp native library loadable on this host (see the class remarks); idempotent and thread-safe.
    /// Returns <see cref="Status"/>. Throws <see cref="ProbeException"/> when the library cannot be found or patched.
    /// </summary>
    public static string EnsureLoadable()
    {
        lock (Gate)
        {
            if (status != null && !status.StartsWith("failed", StringComparison.Ordinal)) return status;
            status = Prepare();
            return status;
        }
    }

    static string Prepare()
    {
        if (!OperatingSystem.IsLinux()) return "nothing to do: not Linux";
        string? libstdcxx = LoadedLibStdCxx() ?? ElfVersionPatcher.FindHostLibStdCxx();
        if (libstdcxx == null) return "nothing to do: no libstdc++.so.6 found";
        if (ElfVersionPatcher.VersionDefinitions(libstdcxx).Contains(LibStdCxxVersion))
            return "nothing to do: " + libstdcxx + " defines " + LibStdCxxVersion;

        var layout = TorchSharpLayout.Find();
        if (layout.LibTorchSharp == null)
            throw new ProbeException("TorchSharp's native library libLibTorchSharp.so was not found next to " + layout.AssemblyPath
                + " nor in the NuGet package folders (" + string.Join(", ", layout.Searched) + "). Reference the TorchSharp-cpu package (Probe's package brings it).");
        if (IsWeak(layout.LibTorchSharp))
            return "nothing to do: " + layout.LibTorchSharp + " is already patched";
        if (layout.LibTorchDir == null)
            throw new ProbeException("libtorch_cpu.so (package libtorch-cpu-linux-x64) was not found for " + layout.LibTorchSharp
                + "; searched " + string.Join(", ", layout.Searched) + ". Restore the TorchSharp-cpu package.");

        string patched = PatchedCopy(layout.LibTorchSharp);
        // libLibTorchSharp.so finds libtorch through RUNPATH $ORIGIN, which is the cache folder for the copy: load
        // libtorch first from its own folder, so the copy's NEEDED entries match loaded libraries by SONAME.
        foreach (var name in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
        {
            string path = Path.Combine(layout.LibTorchDir, name);
            if (File.Exists(path)) NativeLibrary.Load(path);
        }
        handle = NativeLibrary.Load(patched);
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(TorchSharp.torch).Assembly,
                (name, _, _) => name == "LibTorchSharp" || name == "libLibTorchSharp.so" ? handle : IntPtr.Zero);
        }
        catch (InvalidOperationException)
        {
            // Someone else registered a resolver for TorchSharp; loading by SONAME still finds the patched copy.
        }
        return "loaded " + patched + " (a copy of " + layout.LibTorchSharp + " with the need for " + LibStdCxxVersion
               + " marked weak; libtorch from " + layout.LibTorchDir + ")";
    }

    static bool IsWeak(string library) =>
        ElfVersionPatcher.VersionNeeds(library).Where(n => n.Version == LibStdCxxVersion).All(n => n.Weak);

    /// <summary>The libstdc++ this process already mapped (the runtime may bring its own), from /proc/self/maps.</summary>
    static string? LoadedLibStdCxx()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash < 0) continue;
                string path = line[slash..].Trim();
                if (Path.GetFileName(path).StartsWith("libstdc++.so.6", StringComparison.Ordinal) && File.Exists(path)) return path;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>The patched copy in the per-user cache, made once per distinct original (atomic: copy, patch, rename).</summary>
    static string PatchedCopy(string original)
    {
        byte[] bytes = File.ReadAllBytes(original);
        string key = Convert.ToHexString(SHA256.HashData(bytes))[..16].ToLowerInvariant();
        string dir = Path.Combine(CacheRoot(), "libtorchsharp-" + key);
        string target = Path.Combine(dir, "libLibTorchSharp.so");
        if (File.Exists(target) && IsWeak(target)) return target;
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, "libLibTorchSharp.so." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            File.WriteAllBytes(temp, bytes);
            var outcome = ElfVersionPatcher.MakeVersionNeedWeak(temp, LibStdCxxVersion);
            if (outcome == ElfPatchOutcome.VersionNotNeeded)
                throw new ProbeException(original + " does not declare a need for " + LibStdCxxVersion + "; this Probe version expects TorchSharp 0.107's native library.");
            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        return target;
    }

    static string CacheRoot()
    {
        string? overridden = Environment.GetEnvironmentVariable("PROBE_NATIVE_CACHE");
        if (!string.IsNullOrEmpty(overridden)) return overridden;
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg)) return Path.Combine(xdg, "probe", "native");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrEmpty(home)
            ? Path.Combine(Path.GetTempPath(), "probe-native-" + Environment.UserName)
            : Path.Combine(home, ".cache", "probe", "native");
    }

    /// <summary>Where TorchSharp's managed assembly, its native library and libtorch are, in the runtime's search order.</summary>
    internal sealed record TorchSharpLayout(string AssemblyPath, string? LibTorchSharp, string? LibTorchDir, IReadOnlyList<string> Searched)
    {
        public static TorchSharpLayout Find()
        {
            Assembly torchSharp = typeof(TorchSharp.torch).Assembly;
            string assemblyPath = torchSharp.Location;
            var dirs = new List<string>();
            string? assemblyDir = string.IsNullOrEmpty(assemblyPath) ? null : Path.GetDirectoryName(assemblyPath);
            if (assemblyDir != null) dirs.Add(assemblyDir);
            // The app's own native folders (deps.json): build and publish outputs, runtimes/linux-x64/native included.
            if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchDirs)
                dirs.AddRange(searchDirs.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
            if (assemblyDir != null) dirs.Add(Path.Combine(assemblyDir, "runtimes", "linux-x64", "native"));
            // TorchSharp.dll inside the NuGet cache (<root>/torchsharp/<version>/lib/<tfm>/): a notebook kernel.
            if (assemblyDir != null)
            {
                var tfm = new DirectoryInfo(assemblyDir);
                var package = tfm.Parent?.Name == "lib" ? tfm.Parent.Parent : null;
                var root = package?.Parent?.Parent;
                if (package != null && root != null && package.Parent!.Name.Equals("torchsharp", StringComparison.OrdinalIgnoreCase))
                {
                    dirs.Add(Path.Combine(package.FullName, "runtimes", "linux-x64", "native"));
                    var libtorch = new DirectoryInfo(Path.Combine(root.FullName, "libtorch-cpu-linux-x64"));
                    if (libtorch.Exists)
                        // Never touch TorchSharp.torch's members here: that runs its type initializer, which loads the library.
                        dirs.AddRange(libtorch.GetDirectories()
                            .OrderByDescending(d => Version.TryParse(d.Name, out var v) ? v : new Version(0, 0))
                            .Select(d => Path.Combine(d.FullName, "runtimes", "linux-x64", "native")));
                }
            }
            var searched = dirs.Select(d => Path.GetFullPath(d)).Distinct().ToList();
            string? lib = searched.Select(d => Path.Combine(d, "libLibTorchSharp.so")).FirstOrDefault(File.Exists);
            string? torchDir = searched.FirstOrDefault(d => File.Exists(Path.Combine(d, "libtorch_cpu.so")));
            return new TorchSharpLayout(assemblyPath, lib, torchDir, searched);
        }
    }
}
