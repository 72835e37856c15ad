// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Registered models: their commitments (docs/levels.md), owner and fee.
interface IModelRegistry {
    struct Model {
        address owner;
        bytes32 graphRoot;
        bytes32 constantsRoot;
        bytes32 kernelSetRoot;
        uint256 fee;
        string metadataURI;
    }

    /// @notice The model's record; reverts `UnknownModel` for an id never registered.
    function getModel(uint256 modelId) external view returns (Model memory);

    /// @notice The model's commitment roots and fee, without the metadata; reverts `UnknownModel`.
    function modelRoots(uint256 modelId)
        external
        view
        returns (bytes32 graphRoot, bytes32 constantsRoot, bytes32 kernelSetRoot, uint256 fee);

    /// @notice The exact byte sizes of a request's input and a result's output (0: any length); `UnknownModel`.
    function modelSizes(uint256 modelId) external view returns (uint32 inputBytes, uint32 outputBytes);
}
