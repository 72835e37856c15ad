// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title ModelRegistry
/// @notice Models are registered by their commitments (graph, constants, kernel set roots); the weights live off
/// chain. A model registered with `registerModelFile` also records the exact byte sizes of a request's input and
/// a result's output, which the Coordinator enforces, and the hash of the model file and where to fetch it (its
/// URI), so that every challenger can obtain the weights (docs/game.md "Exact sizes, owned callbacks and data availability"; commitments: docs/levels.md).
/// Kernel programs (one per op type) are registered by the admin at deployment.
contract ModelRegistry is IModelRegistry {
    error NotAdmin(address caller);
    error NotModelOwner(address caller);
    error UnknownModel(uint256 modelId);
    error ZeroRoot();
    error KernelAlreadyRegistered(uint32 opId);
    error ZeroSize();
    error ZeroFileHash();

    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        bytes32 graphRoot,
        bytes32 constantsRoot,
        bytes32 kernelSetRoot,
        uint256 fee,
        string metadataURI
    );
    event ModelFeeChanged(uint256 indexed modelId, uint256 fee);
    event KernelRegistered(uint32 indexed opId, bytes32 codeRoot);
    event ModelFileRecorded(uint256 indexed modelId, uint32 inputBytes, uint32 outputBytes, bytes32 fileHash);

    /// @dev What `registerModelFile` adds to a model: exact sizes (0 = any length) and the model file's keccak256.
    struct ModelFile {
        uint32 inputBytes;
        uint32 outputBytes;
        bytes32 fileHash;
    }

    address public immutable admin;
    uint256 public modelCount;
    mapping(uint256 modelId => Model) private _models;
    mapping(uint32 opId => bytes32 codeRoot) public kernelCode;
    mapping(uint256 modelId => ModelFile) private _files;

    constructor(address admin_) {
        admin = admin_;
    }

    /// @notice Registers a model owned by the sender, of any input and output length (for commitments that bind
    /// the exact bytes, like keccak256); ids start at 1.
    function registerModel(
        bytes32 graphRoot,
        bytes32 constantsRoot,
        bytes32 kernelSetRoot,
        string calldata metadataURI,
        uint256 fee
    ) external returns (uint256 modelId) {
        modelId = _register(graphRoot, constantsRoot, kernelSetRoot, metadataURI, fee);
    }

    /// @notice Registers a model owned by the sender whose inputs are exactly `inputBytes` and outputs exactly
    /// `outputBytes` long, with the keccak256 `fileHash` of its model file, fetched from `fileURI` (the model's
    /// metadata URI). Sizes and hash never change.
    function registerModelFile(
        bytes32 graphRoot,
        bytes32 constantsRoot,
        bytes32 kernelSetRoot,
        string calldata fileURI,
        uint256 fee,
        uint32 inputBytes,
        uint32 outputBytes,
        bytes32 fileHash
    ) external returns (uint256 modelId) {
        if (inputBytes == 0 || outputBytes == 0) revert ZeroSize();
        if (fileHash == 0) revert ZeroFileHash();
        modelId = _register(graphRoot, constantsRoot, kernelSetRoot, fileURI, fee);
        _files[modelId] = ModelFile(inputBytes, outputBytes, fileHash);
        emit ModelFileRecorded(modelId, inputBytes, outputBytes, fileHash);
    }

    /// @notice Registers a model owned by the sender whose inputs and outputs have no fixed size — for a
    /// commitment that checks and binds the exact bytes itself, like GenerationCommitment (a Coordinator that
    /// requires sizes refuses requests on it) — with the keccak256 `fileHash` of its model file, fetched from
    /// `fileURI`.
    function registerUnsizedModelFile(
        bytes32 graphRoot,
        bytes32 constantsRoot,
        bytes32 kernelSetRoot,
        string calldata fileURI,
        uint256 fee,
        bytes32 fileHash
    ) external returns (uint256 modelId) {
        if (fileHash == 0) revert ZeroFileHash();
        modelId = _register(graphRoot, constantsRoot, kernelSetRoot, fileURI, fee);
        _files[modelId] = ModelFile(0, 0, fileHash);
        emit ModelFileRecorded(modelId, 0, 0, fileHash);
    }

    /// @notice The owner changes the minimum fee of a request on its model.
    function setFee(uint256 modelId, uint256 fee) external {
        Model storage model = _existing(modelId);
        if (msg.sender != model.owner) revert NotModelOwner(msg.sender);
        model.fee = fee;
        emit ModelFeeChanged(modelId, fee);
    }

    /// @notice The admin registers the code root of op `opId`'s kernel, once.
    function registerKernel(uint32 opId, bytes32 codeRoot) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        if (codeRoot == 0) revert ZeroRoot();
        if (kernelCode[opId] != 0) revert KernelAlreadyRegistered(opId);
        kernelCode[opId] = codeRoot;
        emit KernelRegistered(opId, codeRoot);
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId) external view returns (Model memory) {
        return _existing(modelId);
    }

    /// @inheritdoc IModelRegistry
    function modelRoots(uint256 modelId)
        external
        view
        returns (bytes32 graphRoot, bytes32 constantsRoot, bytes32 kernelSetRoot, uint256 fee)
    {
        Model storage model = _existing(modelId);
        return (model.graphRoot, model.constantsRoot, model.kernelSetRoot, model.fee);
    }

    /// @inheritdoc IModelRegistry
    function modelSizes(uint256 modelId) external view returns (uint32 inputBytes, uint32 outputBytes) {
        _existing(modelId);
        ModelFile storage file = _files[modelId];
        return (file.inputBytes, file.outputBytes);
    }

    /// @notice The model file's keccak256 (0 for a model registered without one) and its URI; `UnknownModel`.
    function modelFile(uint256 modelId) external view returns (bytes32 fileHash, string memory fileURI) {
        Model storage model = _existing(modelId);
        return (_files[modelId].fileHash, model.metadataURI);
    }

    function _register(
        bytes32 graphRoot,
        bytes32 constantsRoot,
        bytes32 kernelSetRoot,
        string calldata metadataURI,
        uint256 fee
    ) private returns (uint256 modelId) {
        if (graphRoot == 0 || constantsRoot == 0 || kernelSetRoot == 0) revert ZeroRoot();
        modelId = ++modelCount;
        _models[modelId] = Model(msg.sender, graphRoot, constantsRoot, kernelSetRoot, fee, metadataURI);
        emit ModelRegistered(modelId, msg.sender, graphRoot, constantsRoot, kernelSetRoot, fee, metadataURI);
    }

    function _existing(uint256 modelId) private view returns (Model storage model) {
        model = _models[modelId];
        if (model.owner == address(0)) revert UnknownModel(modelId);
    }
}
